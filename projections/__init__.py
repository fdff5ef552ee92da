"""Read models fed from the notification log, and HistoryService (issue: transactions)."""
