"""The Chinese words the pages use for the contract's codes."""

SEVERITY = {"red": "红牌", "yellow": "黄牌", "notice": "提醒"}
KIND = {"explanation": "说明理由", "rectification": "整改情况", "appeal": "申诉"}
OUTCOME = {
    "confirmed": "确认",
    "dismissed": "撤销",
    "recommendation": "监察建议书",
    "accountability": "责任追究",
    "pending": "待处理",
}
DISMISSAL = {"data_error": "数据错误", "lawful_cause": "正当理由", "duplicate": "重复", "other": "其他"}
TARGET = {"staff": "工作人员", "department": "部门", "head": "部门负责人"}
CLOCK_STATE = {"running": "计时中", "suspended": "已中止", "stopped": "已停止"}
ROLE = {"department": "部门用户", "supervisor": "监察人员"}
