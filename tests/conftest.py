import pytest

from assay.pipelines.store.catalog import Catalog


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path / "assay.duckdb") as cat:
        yield cat
