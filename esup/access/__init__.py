"""Who may do what on Kafka: the ACL table per principal, and applying it (users, ACLs, audit)."""
