"""The channels Pantau pushes agencies' feeds through (AlertSender implementations)."""
