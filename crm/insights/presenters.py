"""Turn NetworkFigures into what the pages show: charts, tables and labelled lists."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from crm.insights import charts
from crm.insights.services import (
    STRENGTH_EXPLANATION,
    NetworkFigures,
    contact_names,
    introductions,
    mediums_by_id,
)
from crm.models import Initiator, Medium
from crm.models.types import alphabetical_key

RECIPROCITY_LABELS = {"me": "I reached out", "them": "They reached out", "mutual": "Mutual"}


@dataclass
class FigureView:
    """Everything the figure partial renders."""

    figures: NetworkFigures
    mediums: dict
    colours: dict
    contacts: dict
    mix_rows: list
    mix_chart: Markup | None
    months_chart: Markup | None
    months: list
    months_table: list
    months_mediums: list
    breadth_rows: list
    breadth_chart: Markup | None
    origin_rows: list
    origin_chart: Markup | None
    path_rows: list
    path_mediums: list
    path_chart: Markup | None
    reciprocity_rows: list
    reciprocity_chart: Markup | None
    new_rows: list
    new_chart: Markup | None
    network_chart: Markup | None
    network_edges: list
    strengths: list
    cold: list
    network_legend: list
    strength_explanation: str = STRENGTH_EXPLANATION


def _name(mediums, medium_id):
    medium = mediums.get(medium_id)
    return medium.name if medium else "(deleted medium)"


def build(fig: NetworkFigures, *, shared_only: bool, strengths_limit: int = 10,
          cold_limit: int = 10, with_network: bool = True,
          mediums: dict | None = None) -> FigureView:
    """Charts and rows for one owner's figures (queries: mediums, contact names, network)."""
    if mediums is None:
        mediums = mediums_by_id([fig.owner_id])
    else:
        mediums = {mid: m for mid, m in mediums.items()
                   if m.owner_id is None or m.owner_id == fig.owner_id}
    if shared_only:  # a medium of the owner's own that only private data uses is not there
        used = {*fig.mix, *fig.origins, *(m for pair in fig.paths for m in pair),
                *(m for month in fig.mix_by_month.values() for m in month)}
        mediums = {mid: m for mid, m in mediums.items() if m.owner_id is None or mid in used}
    colours = charts.medium_colours(mediums.values())
    alpha = sorted(mediums.values(), key=Medium.sort_key)

    mix_rows = [(m, fig.mix[m.id]) for m in alpha if fig.mix.get(m.id)]
    total = sum(v for _, v in mix_rows) or 1
    mix_rows = [(m, v, round(100 * v / total)) for m, v in mix_rows]
    mix_chart = charts.bar_chart(
        [(m.name, v, colours[m.id]) for m, v, _ in mix_rows],
        title="Interactions by medium",
    ) if mix_rows else None

    months = list(fig.mix_by_month)
    used = sorted({mid for counts in fig.mix_by_month.values() for mid in counts},
                  key=lambda mid: (alphabetical_key(_name(mediums, mid)), mid))
    series = {mid: [fig.mix_by_month[k].get(mid, 0) for k in months] for mid in used}
    months_chart = charts.stacked_columns(
        months, series, colours, {mid: _name(mediums, mid) for mid in used},
        title="Medium mix by month",
    ) if used else None
    months_table = [(k, [fig.mix_by_month[k].get(mid, 0) for mid in used],
                     sum(fig.mix_by_month[k].values())) for k in months]

    breadth_rows = sorted(fig.breadth.items())
    breadth_chart = charts.bar_chart(
        [(f"{n} medium{'s' if n != 1 else ''}", c, "#76b7b2") for n, c in breadth_rows],
        title="Relationships by number of mediums used",
    ) if breadth_rows else None

    origin_rows = [(m, fig.origins[m.id]) for m in alpha if fig.origins.get(m.id)]
    origin_chart = charts.bar_chart(
        [(m.name, c, colours[m.id]) for m, c in origin_rows],
        title="Where relationships began",
    ) if origin_rows else None

    path_ids = sorted({a for a, _ in fig.paths} | {b for _, b in fig.paths},
                      key=lambda mid: (alphabetical_key(_name(mediums, mid)), mid))
    path_mediums = [(mid, _name(mediums, mid)) for mid in path_ids]
    path_rows = sorted(
        ((_name(mediums, a), _name(mediums, b), c) for (a, b), c in fig.paths.items()),
        key=lambda r: (alphabetical_key(r[0]), alphabetical_key(r[1])),
    )
    path_chart = charts.heatmap(
        path_mediums, path_mediums, fig.paths,
        title="Relationships that began on one medium (rows) and later used another (columns)",
    ) if fig.paths else None

    reciprocity_rows = [(RECIPROCITY_LABELS[w.value], fig.reciprocity.get(w.value, 0))
                        for w in Initiator]
    reciprocity_chart = charts.bar_chart(
        [(label, count, "#b07aa1") for label, count in reciprocity_rows],
        title="Who reached out",
    ) if any(c for _, c in reciprocity_rows) else None

    new_rows = list(fig.new_by_month.items())
    new_chart = charts.stacked_columns(
        [k for k, _ in new_rows], {0: [v for _, v in new_rows]}, {0: "#59a14f"},
        {0: "New contacts"}, title="New contacts per month", height=180,
    ) if any(v for _, v in new_rows) else None

    strengths = fig.strengths[:strengths_limit]
    cold = fig.cold[:cold_limit]
    network_chart, network_edges, network_legend = None, [], []
    edges = introductions(fig.owner_id, shared_only=shared_only) if with_network else []
    node_ids = {a for a, _ in edges} | {b for _, b in edges}
    wanted = {s.contact_id for s in strengths} | {c.contact_id for c in cold}
    contacts = contact_names(wanted | node_ids) if (with_network or wanted) else {}
    nodes_map = {cid: contacts[cid] for cid in node_ids}
    if with_network and edges:
        node_colours = {cid: colours.get(c.origin_medium_id, charts.NOT_RECORDED)
                        for cid, c in nodes_map.items()}
        network_chart = charts.network(
            {cid: c.name for cid, c in nodes_map.items()}, edges, node_colours,
            title="Who introduced whom (colour: medium the relationship began on)",
        )
        network_edges = [(nodes_map[p], nodes_map[c]) for c, p in edges]
        origin_ids = {c.origin_medium_id for c in nodes_map.values() if c.origin_medium_id}
        network_legend = [(m.id, m.name) for m in alpha if m.id in origin_ids]

    view = FigureView(
        figures=fig, mediums=mediums, colours=colours, contacts=contacts,
        mix_rows=mix_rows, mix_chart=mix_chart, months_chart=months_chart, months=months,
        months_table=months_table, months_mediums=[(mid, _name(mediums, mid)) for mid in used],
        breadth_rows=breadth_rows, breadth_chart=breadth_chart,
        origin_rows=origin_rows, origin_chart=origin_chart,
        path_rows=path_rows, path_mediums=path_mediums, path_chart=path_chart,
        reciprocity_rows=reciprocity_rows, reciprocity_chart=reciprocity_chart,
        new_rows=new_rows, new_chart=new_chart,
        network_chart=network_chart, network_edges=network_edges,
        strengths=strengths, cold=cold, network_legend=network_legend,
    )
    return view
