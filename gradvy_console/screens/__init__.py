"""The console's screens: the dashboard, the detail screens, the help and the modals."""
