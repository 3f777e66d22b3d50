"""The contracts every part of tamis builds on: steps and their kinds, recipes, the registry,
columns, resources, errors and the executor interface."""
