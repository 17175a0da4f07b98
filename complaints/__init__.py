"""投诉处理: complaints from the public, dispatched, answered within limits, counted in the evaluation."""
