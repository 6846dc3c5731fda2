"""The manifest model, the build plan, module sources and staging."""
