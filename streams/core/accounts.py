"""A plausible synthetic telecom account (balance and plan of a caller).

Used by the sample data (streams.tools.sample.generate) and by training, since the public dialogue data has no
accounts. Standard library only and deterministic for a given random.Random.
"""
from __future__ import annotations

import random

DAY_MS = 86_400_000

PLANS = [("畅享5G套餐129元", 129, "国内通用流量30G，定向流量30G"), ("畅享5G套餐169元", 169, "国内通用流量40G，定向流量60G"),
         ("5G智享套餐239元", 239, "国内通用流量80G，定向流量100G"), ("4G飞享套餐58元", 58, "国内通用流量10G"),
         ("4G飞享套餐38元", 38, "国内通用流量3G，定向流量10G"), ("校园学霸套餐", 39, "国内通用流量20G，校园定向流量50G"),
         ("全家享融合套餐199元", 199, "国内通用流量60G，含千兆宽带，可加3张副卡"), ("冰激凌套餐99元", 99, "国内通用流量30G，定向流量50G"),
         ("老年关怀套餐8元", 8, "国内通用流量500M，含100分钟通话")]


def random_account(rng: random.Random, user_id: str, start_ms: int) -> dict:
    """A plausible telecom account, last updated within the 30 days before start_ms."""
    name, fee, allowance = rng.choice(PLANS)
    balance = rng.uniform(-35.5, 0) if rng.random() < 0.1 else rng.uniform(0, 300)
    return dict(user_id=user_id, balance_yuan=round(balance, 2), plan_name=name, plan_fee_yuan=fee,
                data_allowance=allowance, updated_at=max(0, start_ms - rng.randint(1, 30 * DAY_MS)))
