//! Who gets what back when a transfer with several payers is refunded.
//!
//! A transfer's debits and credits are pooled, so "which payer paid which receiver" needs a rule.
//! [`funding`] matches them in leg order (the northwest-corner rule of the transportation
//! problem): the first payer's money goes to the first receiver until one of them is used up,
//! then on to the next. Every receiver's row sums to what it was credited and every payer's
//! column to what it was debited, exactly, in centavos, so refunds made by different receivers
//! at different banks never return to one payer more than it paid. The coordinator computes it
//! once and names each credited bank's rows in the prepare (`PrepareItem::payers`); the origin's
//! bank recomputes it from its own legs.
//!
//! One receiver's refund is then split by [`split_refund`] pro rata over what is still owed to
//! each of its payers: never more than that to anyone, and the parts add up to the refund.

/// `(receiver, payer, cents)`: `cents` of what receiver `receiver` (an index into `credits`) was
/// credited came from payer `payer` (an index into `debits`). Amounts are positive; a zero or
/// negative amount is skipped. When the two sides do not add up to the same total (they always
/// do in a balanced transfer), the rows stop where the shorter side ends.
pub fn funding(debits: &[i64], credits: &[i64]) -> Vec<(usize, usize, i64)> {
    let mut out = Vec::new();
    let (mut payer, mut receiver) = (0, 0);
    let mut left_payer = debits.first().copied().unwrap_or(0).max(0);
    let mut left_receiver = credits.first().copied().unwrap_or(0).max(0);
    while payer < debits.len() && receiver < credits.len() {
        if left_payer == 0 {
            payer += 1;
            left_payer = debits.get(payer).copied().unwrap_or(0).max(0);
            continue;
        }
        if left_receiver == 0 {
            receiver += 1;
            left_receiver = credits.get(receiver).copied().unwrap_or(0).max(0);
            continue;
        }
        let cents = left_payer.min(left_receiver);
        out.push((receiver, payer, cents));
        left_payer -= cents;
        left_receiver -= cents;
    }
    out
}

/// Splits a refund of `amount` over payers still owed `owed[i]` each: pro rata, rounded down,
/// and the centavos left over one each to the first payers (in order) still owed more than
/// their part. `None` when `amount` is not positive or exceeds what is owed in all. Every part
/// is at most what its payer is owed, and the parts add up to `amount`.
pub fn split_refund(amount: i64, owed: &[i64]) -> Option<Vec<i64>> {
    let owed: Vec<i64> = owed.iter().map(|cents| (*cents).max(0)).collect();
    let total: i64 = owed.iter().try_fold(0i64, |sum, cents| sum.checked_add(*cents))?;
    if amount <= 0 || amount > total {
        return None;
    }
    // i128: amount × owed may pass i64 for amounts near its limit.
    let mut parts: Vec<i64> = owed.iter().map(|cents| (i128::from(amount) * i128::from(*cents) / i128::from(total)) as i64).collect();
    let mut left = amount - parts.iter().sum::<i64>();
    // Fewer than `owed.len()` centavos are left after rounding down, and any payer with a part
    // below what it is owed can take one more: such payers exist while anything is left.
    while left > 0 {
        let before = left;
        for (part, cents) in parts.iter_mut().zip(&owed) {
            if left > 0 && *part < *cents {
                *part += 1;
                left -= 1;
            }
        }
        if left == before {
            return None;
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator: `next(bound)` is in `0..bound`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |bound| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        }
    }

    fn sums(rows: &[(usize, usize, i64)], debits: usize, credits: usize) -> (Vec<i64>, Vec<i64>) {
        let (mut by_payer, mut by_receiver) = (vec![0; debits], vec![0; credits]);
        for (receiver, payer, cents) in rows {
            by_payer[*payer] += cents;
            by_receiver[*receiver] += cents;
        }
        (by_payer, by_receiver)
    }

    #[test]
    fn one_receiver_is_funded_by_every_payer_in_full() {
        assert_eq!(funding(&[7_000, 3_000], &[10_000]), vec![(0, 0, 7_000), (0, 1, 3_000)]);
        assert_eq!(funding(&[10_000], &[6_000, 4_000]), vec![(0, 0, 6_000), (1, 0, 4_000)]);
    }

    #[test]
    fn payers_fund_receivers_in_leg_order_and_every_row_and_column_adds_up() {
        // 6,000 + 5,000 + 1,000 paid to 7,000 + 5,000: the first receiver gets the first payer
        // whole and 1,000 of the second; the second gets the rest.
        let rows = funding(&[6_000, 5_000, 1_000], &[7_000, 5_000]);
        assert_eq!(rows, vec![(0, 0, 6_000), (0, 1, 1_000), (1, 1, 4_000), (1, 2, 1_000)]);
        // Pseudo-random balanced transfers: rows and columns always match the legs exactly.
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..2_000 {
            let debits: Vec<i64> = (0..1 + next(5)).map(|_| 1 + next(100_000) as i64).collect();
            let total: i64 = debits.iter().sum();
            let mut credits = Vec::new();
            let mut left = total;
            while left > 0 {
                let cents = if next(3) == 0 { left } else { 1 + next(left as u64) as i64 };
                credits.push(cents);
                left -= cents;
            }
            let rows = funding(&debits, &credits);
            assert!(rows.iter().all(|(_, _, cents)| *cents > 0));
            assert_eq!(sums(&rows, debits.len(), credits.len()), (debits.clone(), credits.clone()));
        }
    }

    #[test]
    fn a_refund_is_split_pro_rata_and_the_odd_centavos_go_to_the_first_payers() {
        assert_eq!(split_refund(5_000, &[7_000, 3_000]), Some(vec![3_500, 1_500]));
        assert_eq!(split_refund(1, &[7_000, 3_000]), Some(vec![1, 0]));
        assert_eq!(split_refund(100, &[1, 1, 1]), None, "more than is owed");
        assert_eq!(split_refund(0, &[5]), None);
        assert_eq!(split_refund(-5, &[5]), None);
        assert_eq!(split_refund(3, &[1, 1, 1]), Some(vec![1, 1, 1]));
        // A tiny payer among large ones is never paid back more than it paid.
        assert_eq!(split_refund(2_000_000, &[1, 1_000_000, 1_000_000]), Some(vec![1, 1_000_000, 999_999]));
    }

    #[test]
    fn refunds_in_parts_never_return_more_than_each_payer_paid() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2_000 {
            let paid: Vec<i64> = (0..1 + next(4)).map(|_| 1 + next(10_000) as i64).collect();
            let mut owed = paid.clone();
            while owed.iter().sum::<i64>() > 0 {
                let left: i64 = owed.iter().sum();
                let amount = 1 + next(left as u64) as i64;
                let parts = split_refund(amount, &owed).expect("fits in what is owed");
                assert_eq!(parts.iter().sum::<i64>(), amount);
                for (part, cents) in parts.iter().zip(owed.iter_mut()) {
                    assert!(*part >= 0 && *part <= *cents, "{parts:?} of {amount} over {owed:?}");
                    *cents -= part;
                }
            }
        }
    }
}
