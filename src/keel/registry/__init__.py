"""The model registry's rules: the lifecycle of a model version and its fact sheet."""
