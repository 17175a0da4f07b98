"""The Grafana ClickHouse data source (grafana-clickhouse-datasource): its reference and a raw-SQL query type.

The foundation SDK ships query types for core data sources only; this is the plugin's SQL-editor query
(``rawSql``, ``format``, ``queryType``) as a cog Dataquery variant, with its builder.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN = "grafana-clickhouse-datasource"
# The uid deploy/grafana/provisioning/datasources/clickhouse.yaml gives the data source; push uses it too.
UID = "esup-clickhouse"
NAME = "ClickHouse"

Format = Literal["table", "timeseries"]
# The plugin's format codes: 0 time series, 1 table.
_FORMAT_CODE = {"timeseries": 0, "table": 1}


def datasource() -> DataSourceRef:
    """The reference to the provisioned ClickHouse data source (plugin and uid)."""
    return DataSourceRef(type_val=PLUGIN, uid=UID)


class ClickHouseQuery(cogvariants.Dataquery):
    """One SQL-editor query of the ClickHouse plugin."""

    def __init__(self, raw_sql: str = "", fmt: Format = "table", ref_id: str = "A") -> None:
        self.raw_sql = raw_sql
        self.fmt: Format = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        """The query as Grafana stores it in a panel's targets."""
        return {
            "datasource": datasource().to_json(),
            "editorType": "sql",
            "format": _FORMAT_CODE[self.fmt],
            "queryType": self.fmt,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a query from its stored JSON (a format code other than 0, time series, is a table)."""
        fmt: Format = "timeseries" if data.get("format") == 0 else "table"
        return cls(str(data.get("rawSql", "")), fmt, str(data.get("refId", "A")))


def variant_config() -> cogruntime.DataqueryConfig:
    """Lets cog unmarshal dashboards that hold this query type (register once with the runtime)."""
    return cogruntime.DataqueryConfig(identifier=PLUGIN, from_json_hook=ClickHouseQuery.from_json)


class Query(cogbuilder.Builder[ClickHouseQuery]):
    """Builder: ``Query(sql).format("timeseries").ref_id("B")``."""

    def __init__(self, raw_sql: str) -> None:
        self._internal = ClickHouseQuery(raw_sql)

    def build(self) -> ClickHouseQuery:
        """The query built so far."""
        return self._internal

    def format(self, fmt: Format) -> Self:
        """Set the result format: a table or a time series."""
        self._internal.fmt = fmt
        return self

    def ref_id(self, ref_id: str) -> Self:
        """Set the query's reference id within its panel."""
        self._internal.ref_id = ref_id
        return self
