"""The organisation directory (机构目录): departments, staff and supervision bureaus, with names and heads."""
