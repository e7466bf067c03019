"""chatfleet: retrieval-augmented chat applications in production on Kubernetes."""

__version__ = "0.1.0"
