"""Read models fed from the notification log (timeline, queue, statistics) and the services that
read them: HistoryService and TransactionService."""
