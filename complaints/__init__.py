"""Complaint handling (投诉处理): contract, rules and service (docs/complaints.md)."""
