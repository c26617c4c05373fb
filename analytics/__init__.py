"""AI release analytics."""
