"""`featurecast features list` (the catalogue, from the dbt manifest) and `features sync` (the YAML the
feature catalogue, dbt_project/feature_catalog.yml, generates)."""

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


def sync(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.feature_catalog import load_catalog
    from dbt_project.feature_catalog import sync as sync_yaml
    from featurecast.config import PROJECT_ROOT

    changed = sync_yaml(check=args.check)
    count = len(load_catalog())
    names = ", ".join(str(p.relative_to(PROJECT_ROOT)) for p in changed)
    if args.check:
        if changed:
            print(f"out of date with dbt_project/feature_catalog.yml: {names}; run `featurecast features sync`")
            return 1
        print(f"the models' YAML matches the catalogue ({count} features)")
        return 0
    print(f"wrote {names} from the catalogue ({count} features)" if changed else f"up to date ({count} features)")
    if changed:
        print("next: `featurecast build`, then `featurecast docs` for docs/feature_spec.md")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from featurecast.cli.arguments import bounded

    parser = sub.add_parser("features", help="the feature catalogue (and point-in-time retrieval in Python)")
    actions = parser.add_subparsers(dest="action", required=True)
    lister = actions.add_parser("list", help="every feature: family, lookback, lineage, description")
    lister.set_defaults(handler=list_)
    lister.add_argument("--family", help="only this family (returns, volatility, volume, ...)")
    lister.add_argument(
        "--width", type=bounded(int, low=1, high=10_000), default=70, help="description characters shown"
    )
    syncer = actions.add_parser(
        "sync", help="write the models' feature YAML from dbt_project/feature_catalog.yml (one declaration per feature)"
    )
    syncer.set_defaults(handler=sync)
    syncer.add_argument("--check", action="store_true", help="only report drift (exit 1), write nothing")
