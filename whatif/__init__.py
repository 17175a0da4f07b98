"""What-if (shadow) runs: the recorded events of a window re-evaluated under a proposed configuration, and compared."""
