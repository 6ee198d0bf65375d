"""promkit: deploy a Prometheus server and prove, through its HTTP API, that it is right."""

__version__ = "0.1.0"
