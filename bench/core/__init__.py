"""The core: registries, the contracts plug-ins implement, run spec, store, metrics,
intervals and configuration. It imports nothing else of the project."""
