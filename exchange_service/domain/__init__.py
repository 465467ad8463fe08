"""Domain model, validation and errors. Imports neither gRPC nor the database."""
