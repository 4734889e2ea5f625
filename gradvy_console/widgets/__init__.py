"""The console's widgets: each renders a slice of a `Snapshot` it is given; none reads a
backend."""
