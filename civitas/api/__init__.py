"""The API layer: every gRPC servicer, who may call each RPC, and domain errors as statuses."""
