"""French dates, one format everywhere: 6 déc. 2026 and 6 déc. 2026 14:05; typed dates in
French order (06/12/2026) as well as ISO (what date inputs send)."""

DATE_FORMAT = "j N Y"
SHORT_DATE_FORMAT = "j N Y"
DATETIME_FORMAT = "j N Y H:i"
SHORT_DATETIME_FORMAT = "j N Y H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M"]
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\u202f"
NUMBER_GROUPING = 3
FIRST_DAY_OF_WEEK = 1
