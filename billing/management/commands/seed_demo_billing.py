"""Seed the demo's money side, after seed_demo: a price list, a budget for Apollo and a month of
usage history (VMs that ran and were deleted), with last month invoiced, so that Costs, Finance
and Invoices show real figures at once. Running it again adds nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing import invoicing, selectors, services
from billing.choices import InvoiceStatus, UsageKind
from billing.ledger import usage_event_record
from billing.models import Invoice, PriceList, UsageEvent
from compute.choices import VMState
from compute.models import Flavor, Image, VirtualMachine
from portal.errors import ConflictError
from portal.models import Tenant, User

PRICES = {
    "vcpu_hour": Decimal("0.04"),
    "ram_gib_hour": Decimal("0.005"),
    "disk_gib_hour": Decimal("0.0002"),
    "snapshot_gib_hour": Decimal("0.0001"),
}
BUDGET = Decimal("250.00")
# name, owner, environment, flavor, days ago it was created, days ago it was deleted,
# stretches it was stopped (days ago from, to).
HISTORY: tuple[tuple[str, str, str, str, float, float, tuple[tuple[float, float], ...]], ...] = (
    ("old-web", "alice", "development", "medium", 33, 0.1, ((20, 18),)),
    ("old-db", "alice", "production", "large", 31, 0.2, ()),
    ("old-batch", "bob", "qualification", "small", 12, 2, ((8, 6), (5, 4))),
)


class Command(BaseCommand):
    help = "Seed the demo's price list, budget and a month of usage history (after seed_demo)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.unscoped().get(slug="apollo")  # the demo seed: no user
        admin = User.objects.get(username="admin")
        carol = User.objects.get(username="carol")
        now = timezone.now()
        price_list = self._price_list(carol, now)
        budget = services.budget_set(updated_by=admin, tenant=tenant, amount=BUDGET)
        made = self._history(tenant, now)
        invoice = self._invoice(carol, tenant, now)
        cost = selectors.tenant_month_cost(tenant=tenant, now=now)
        self.stdout.write(
            f"Price list '{price_list.name}' ({price_list.currency}) since "
            f"{price_list.effective_from:%Y-%m-%d}; Apollo's budget {budget.amount} "
            f"{price_list.currency}/month, {cost.total} so far this month"
            + (f"; {made} VMs of usage history added" if made else "")
            + (f"; last month invoiced as {invoice.number} ({invoice.total})" if invoice else "")
        )

    def _price_list(self, carol: User, now: datetime) -> PriceList:
        currency = selectors.billing_currency()
        existing = PriceList.objects.filter(currency=currency).order_by("effective_from").first()
        if existing is not None:
            return existing
        first = (now - timedelta(days=62)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return services.price_list_create(
            created_by=carol,
            name="Standard",
            currency=currency,
            effective_from=first,
            vcpu_hour=PRICES["vcpu_hour"],
            ram_gib_hour=PRICES["ram_gib_hour"],
            disk_gib_hour=PRICES["disk_gib_hour"],
            snapshot_gib_hour=PRICES["snapshot_gib_hour"],
        )

    def _history(self, tenant: Tenant, now: datetime) -> int:
        """VMs that ran over the last month and are gone: their ledger, back-dated."""
        image = Image.objects.get(name="tiny-linux")
        made = 0
        for name, owner, env, flavor, created, deleted, stops in HISTORY:
            vm = VirtualMachine.objects.unscoped().filter(tenant=tenant, name=name).first()
            if vm is not None and UsageEvent.objects.unscoped().filter(vm=vm).exists():
                continue
            start = now - timedelta(days=created)
            end = now - timedelta(days=deleted)
            vm = vm or VirtualMachine.objects.create(
                tenant=tenant,
                environment=tenant.environments.get(name=env),
                owner=User.objects.get(username=owner),
                name=name,
                flavor=Flavor.objects.get(name=flavor),
                image=image,
                state=VMState.DELETED,
                deleted_at=end,
            )
            VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(
                created_at=start, state_changed_at=end
            )
            facts = [(UsageKind.CREATED, start), (UsageKind.STARTED, start)]
            for off, on in stops:
                facts += [
                    (UsageKind.STOPPED, now - timedelta(days=off)),
                    (UsageKind.STARTED, now - timedelta(days=on)),
                ]
            facts += [(UsageKind.STOPPED, end), (UsageKind.DELETED, end)]
            for kind, at in facts:
                usage_event_record(vm=vm, kind=kind, at=at, cause="demo-history")
            made += 1
        return made

    def _invoice(self, carol: User, tenant: Tenant, now: datetime) -> Invoice | None:
        """Last month drafted and issued (once)."""
        local = now.astimezone(tenant.zone)
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        issued = (
            Invoice.objects.unscoped()
            .filter(tenant=tenant, year=year, month=month, status=InvoiceStatus.ISSUED)
            .first()
        )
        if issued is not None:
            return issued
        try:
            draft, _changed = invoicing.invoice_draft(
                drafted_by=carol, tenant=tenant, year=year, month=month
            )
            if not draft.total:
                return None
            return invoicing.invoice_issue(issued_by=carol, invoice=draft)
        except ConflictError as exc:
            self.stderr.write(f"Last month's invoice: {exc}")
            return None
