"""The run machinery: the engine, the executor and training. It imports the core and,
through the registries, the plug-ins."""
