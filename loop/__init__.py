"""The supervisors' loop: department responses, supervisor decisions and the deadlines on both (issue 14)."""
