"""Measurements behind torrejon2017's write-up that are not part of its run."""
