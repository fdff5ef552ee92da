"""The gRPC contract: `.proto` sources under civitas/v1 and the Python modules generated from them."""
