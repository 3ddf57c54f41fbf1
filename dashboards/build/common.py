"""What every runstream dashboard shares: the data source, the plugin's query model, and
the only way a template variable may reach SQL (percent-encoded inside a literal)."""

from __future__ import annotations

import typing

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

PLUGIN = "grafana-clickhouse-datasource"
PLUGIN_VERSION = "4.20.0"  # docker-compose.yml pins it
DATASOURCE = dm.DataSourceRef(type_val=PLUGIN, uid="${datasource}")

# sqlutil.FormatQueryOption of grafana-plugin-sdk-go, which the plugin's backend (sqlds) reads:
# 0 turns a long result (a time column and string columns) into one wide frame, 1 keeps it.
TIME_SERIES = 0
TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """The ClickHouse plugin's SQL-editor query (src/types/queryBuilder.ts, ``CHSqlQuery``)."""

    def __init__(self, ref_id: str, raw_sql: str, format_: int) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format = format_

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE,
            "editorType": "sql",
            "format": self.format,
            "queryType": "timeseries" if self.format == TIME_SERIES else "table",
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
            "pluginVersion": PLUGIN_VERSION,
        }


class SQL(cogbuilder.Builder[ClickHouseQuery]):
    """A typed target for any panel builder's ``with_target``."""

    def __init__(self, raw_sql: str, format_: int = TABLE, ref_id: str = "A") -> None:
        self._query = ClickHouseQuery(ref_id, raw_sql.strip(), format_)

    def build(self) -> ClickHouseQuery:
        return self._query


PROJECTS = "SELECT DISTINCT project FROM runstream.runs_started ORDER BY project"
"""The project variable's query: every project that started a run."""


def text(name: str) -> str:
    """A variable's value as a string, whatever it holds (``{a,b}`` for a list)."""
    return f"decodeURLComponent('${{{name}:percentencode}}')"


def values(name: str) -> str:
    """A multi-value variable as Array(String): Grafana sends ``{a,b}``, split at commas."""
    return f"splitByChar(',', trim(BOTH '{{}}' FROM {text(name)}))"


def decoded_values(name: str) -> str:
    """A multi-value variable whose options are ``encodeURLComponent`` of what they stand for
    (see ``encoded``): a tag may hold a comma, which would split a plain list."""
    return f"arrayMap(v -> decodeURLComponent(v), {values(name)})"


def encoded(expression: str) -> str:
    """An option's value for ``decoded_values``: no comma or brace left in it."""
    return f"encodeURLComponent({expression})"


NONE = "(none)"  # the option that stands for "no tag", "no group", "no user"


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable("datasource").label("Data source").type(PLUGIN)


def query_variable(
    name: str,
    label: str,
    sql: str,
    multi: bool = False,
    include_all: bool = False,
    hide: bool = False,
) -> db.QueryVariable:
    """A query variable: first column the value, last the text (``metricFindQuery``)."""
    variable = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(" ".join(sql.split()))
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(multi)
        .include_all(include_all)
    )
    if hide:
        variable = variable.hide(dm.VariableHide.HIDE_VARIABLE)
    return variable


def custom_variable(name: str, label: str, options: typing.Sequence[str]) -> db.CustomVariable:
    return db.CustomVariable(name).label(label).values(",".join(options))


def link(title: str, url: str) -> cogbuilder.Builder[dm.DashboardLink]:
    return db.DashboardLink(title).url(url)


def transformation(id_: str, options: dict[str, object]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=id_, options=options)


# Curves of many runs: the SQL returns them long (series, x, ...); one frame per series, then
# one frame joined on x, which is what Grafana's trend panel draws (it draws one frame only).
ONE_FRAME_BY_X = [
    transformation("partitionByValues", {"fields": ["series"], "keepFields": False}),
    transformation("joinByField", {"byField": "x", "mode": "outer"}),
]

STATUS_COLOURS = {
    "finished": "green",
    "running": "blue",
    "failed": "red",
    "crashed": "orange",
    "killed": "purple",
    "delayed": "yellow",
    "stalled": "dark-orange",
}


def status_mapping() -> list[dm.ValueMapping]:
    return [
        dm.ValueMap(
            options={
                status: dm.ValueMappingResult(color=colour, index=index)
                for index, (status, colour) in enumerate(STATUS_COLOURS.items())
            }
        )
    ]


def status_colours() -> list[dm.DynamicConfigValue]:
    """A table column of statuses, each in its colour."""
    return [
        dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
        dm.DynamicConfigValue(id_val="mappings", value=status_mapping()),
    ]


def legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
    )


def tooltip() -> cb.VizTooltipOptions:
    return cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)


def table_panel(panel_id: int, title: str, sql: str, height: int, width: int) -> table.Panel:
    """A table of one query's rows, ``width`` of 24 columns wide."""
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .datasource(DATASOURCE)
        .with_target(SQL(sql))
        .height(height)
        .span(width)
    )


def series_panel(
    panel_id: int, title: str, sql: str, height: int, width: int, unit: str | None = None
) -> timeseries.Panel:
    """A time series of one query (format: time series), with the shared legend and tooltip."""
    panel = (
        timeseries.Panel()
        .legend(legend())
        .tooltip(tooltip())
        .id(panel_id)
        .title(title)
        .datasource(DATASOURCE)
        .with_target(SQL(sql, TIME_SERIES))
        .height(height)
        .span(width)
    )
    return panel.unit(unit) if unit else panel
