"""gRPC edge: servicers translate protobuf to commands and delegate to the use cases."""
