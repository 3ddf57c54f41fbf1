"""The run filters shared by the overview panels: project, tag, group, status, user, one param.

"No tag", "no group" and "no user" are options of their own (``(none)``), so choosing All
keeps the runs that have none; the param filter is a key (``(any)``: no filter) and the
values it may take. Plugin ad hoc filters are not used: the plugin splices their values
into a settings string (src/data/adHocFilter.ts), which no escaping test of ours covers.
"""

from __future__ import annotations

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as dm

from . import common as c

ANY = "(any)"

IN_PROJECTS = f"project IN {c.values('project')}"


def variables() -> list[cogbuilder.Builder[dm.VariableModel]]:
    none = f"'{c.NONE}'"
    return [
        c.query_variable("project", "Project", c.PROJECTS, multi=True, include_all=True),
        c.query_variable(
            "tag",
            "Tag",
            f"SELECT {c.encoded('tag')}, tag FROM (SELECT {none} AS tag, 0 AS o UNION ALL "
            f"SELECT DISTINCT toString(arrayJoin(tags)) AS tag, 1 AS o "
            f"FROM runstream.runs_started WHERE {IN_PROJECTS}) ORDER BY o, tag",
            multi=True,
            include_all=True,
        ),
        c.query_variable(
            "group",
            "Group",
            f"SELECT DISTINCT {c.encoded('g')}, if(run_group = '', {none}, run_group) AS g "
            f"FROM runstream.runs_started WHERE {IN_PROJECTS} ORDER BY g",
            multi=True,
            include_all=True,
        ),
        c.query_variable(
            "status",
            "Status",
            f"SELECT DISTINCT status FROM runstream.runs WHERE {IN_PROJECTS} ORDER BY status",
            multi=True,
            include_all=True,
        ),
        c.query_variable(
            "user",
            "User",
            f"SELECT DISTINCT {c.encoded('u')}, if(user = '', {none}, toString(user)) AS u "
            f"FROM runstream.runs_started WHERE {IN_PROJECTS} ORDER BY u",
            multi=True,
            include_all=True,
        ),
        c.query_variable(
            "param",
            "Param",
            f"SELECT key FROM (SELECT '{ANY}' AS key, 0 AS o UNION ALL SELECT DISTINCT "
            f"toString(key), 1 FROM runstream.run_params WHERE {IN_PROJECTS}) ORDER BY o, key",
        ),
        c.query_variable(
            "param_value",
            "Param value",
            f"SELECT DISTINCT {c.encoded('value')}, value FROM runstream.run_params "
            f"WHERE {IN_PROJECTS} AND key = {c.text('param')} ORDER BY value LIMIT 1000",
            multi=True,
            include_all=True,
        ),
    ]


WITH = f"""
    {c.values("project")} AS f_project,
    {c.decoded_values("tag")} AS f_tag,
    {c.decoded_values("group")} AS f_group,
    {c.values("status")} AS f_status,
    {c.decoded_values("user")} AS f_user,
    {c.text("param")} AS f_param,
    {c.decoded_values("param_value")} AS f_param_value"""


def where(r: str) -> str:
    """The filter on a row of runs, run_table or leaderboard aliased ``r``."""
    return f"""{r}.project IN f_project
    AND (hasAny(CAST({r}.tags, 'Array(String)'), f_tag)
         OR (empty({r}.tags) AND has(f_tag, '{c.NONE}')))
    AND if({r}.run_group = '', '{c.NONE}', {r}.run_group) IN f_group
    AND {r}.status IN f_status
    AND if({r}.user = '', '{c.NONE}', toString({r}.user)) IN f_user
    AND (f_param = '{ANY}' OR ({r}.project, {r}.run_id) IN (
        SELECT project, run_id FROM runstream.run_params
        WHERE project IN f_project AND key = f_param AND value IN f_param_value))"""
