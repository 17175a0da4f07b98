"""The monthly bulletin (考评结果每月公布): rankings, deductions by heading, trends, worst cases and measures."""
