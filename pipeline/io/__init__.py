"""Reading inputs and writing outputs: shard readers, output storage and the run's layout."""
