"""预警推送: findings to the responsible staff, their heads and the supervising bureau, by email, webhook and SMS."""
