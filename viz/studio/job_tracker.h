// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// JobTracker: hands out job ids for one kind of work and tells which result is still wanted.
// Starting a job makes every earlier one stale; results carry their id and are dropped when
// stale (a completion the user replaced, a layout of a trace that is gone). UI thread only.

#include <QtGlobal>

namespace brillm::viz {

class JobTracker {
public:
    // A new current job; every earlier id becomes stale.
    quint64 start() { return m_current = ++m_last; }
    // No job is current any more (cancel, model closed).
    void invalidate() { m_current = 0; }
    bool isCurrent(quint64 id) const { return id != 0 && id == m_current; }
    quint64 current() const { return m_current; }
    // Drops stale results: counts them, for tests and the status bar.
    bool accept(quint64 id) {
        if (isCurrent(id)) return true;
        ++m_dropped;
        return false;
    }
    quint64 dropped() const { return m_dropped; }

private:
    quint64 m_last = 0;
    quint64 m_current = 0;
    quint64 m_dropped = 0;
};

} // namespace brillm::viz
