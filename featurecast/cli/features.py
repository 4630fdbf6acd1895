"""`featurecast features list`: the feature catalogue, from the dbt manifest."""

from __future__ import annotations

import argparse

from featurecast.config import Settings


def list_(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.features import list_features

    catalogue = list_features(settings)
    if args.family:
        catalogue = catalogue[catalogue["family"] == args.family]
    columns = ["name", "family", "lookback_rows", "derives_from", "description"]
    with_width = catalogue[columns].assign(description=catalogue["description"].str.slice(0, args.width))
    print(with_width.to_string(index=False))
    print(f"\n{len(catalogue)} features; in Python: featurecast.features.get_historical_features(entities, [...])")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from featurecast.cli.arguments import positive_int

    parser = sub.add_parser("features", help="the feature catalogue (and point-in-time retrieval in Python)")
    actions = parser.add_subparsers(dest="action", required=True)
    lister = actions.add_parser("list", help="every feature: family, lookback, lineage, description")
    lister.set_defaults(handler=list_)
    lister.add_argument("--family", help="only this family (returns, volatility, volume, ...)")
    lister.add_argument("--width", type=positive_int, default=70, help="description characters shown")
