"""The gRPC contract: `.proto` sources under civitas/v1 and the modules generated from them."""
