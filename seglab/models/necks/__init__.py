"""Necks (FPN, MultiLevelNeck, ...): ``forward(tuple of maps) -> tuple of maps``. None yet."""
