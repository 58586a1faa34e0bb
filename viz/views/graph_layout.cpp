// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/graph_layout.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <QElapsedTimer>
#include <QThreadPool>

#include <cstdio>
#include <mutex>
#include <string>

namespace brillm::viz {

namespace {
std::mutex& graphvizMutex() {
    static std::mutex m;
    return m;
}

void set(void* obj, const char* name, const std::string& value) {
    agsafeset(obj, const_cast<char*>(name), const_cast<char*>(value.c_str()), const_cast<char*>(""));
}
} // namespace

QThreadPool* layoutThreadPool() {
    static QThreadPool* pool = [] {
        auto* p = new QThreadPool; // lives as long as the process: layouts may outlive any window
        p->setMaxThreadCount(1);
        p->setObjectName(QStringLiteral("brillm-layout"));
        return p;
    }();
    return pool;
}

GraphLayout layoutGraph(const GraphInput& input) {
    GraphLayout out;
    QElapsedTimer timer;
    timer.start();
    const std::lock_guard lock(graphvizMutex());
    agseterr(AGERR); // warnings (e.g. about node sizes) are not the user's business
    GVC_t* gvc = gvContext();
    if (!gvc) {
        out.error = QStringLiteral("Graphviz: cannot create a context");
        return out;
    }
    Agraph_t* g = agopen(const_cast<char*>("g"), Agdirected, nullptr);
    set(g, "rankdir", input.rankdir.toStdString());
    set(g, "nodesep", std::to_string(input.nodesep));
    set(g, "ranksep", std::to_string(input.ranksep));
    set(g, "splines", input.splines ? "spline" : "false");
    set(g, "outputorder", "edgesfirst");
    if (input.nodes.size() > 800) {
        set(g, "mclimit", "0.3");
        set(g, "nslimit", "2");
        set(g, "searchsize", "10");
    }
    if (input.engine != QLatin1String("dot")) {
        set(g, "overlap", "true");
        set(g, "splines", "false");
    }
    std::vector<Agnode_t*> nodes;
    nodes.reserve(input.nodes.size());
    for (size_t i = 0; i < input.nodes.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "n%zu", i);
        Agnode_t* n = agnode(g, name, 1);
        set(n, "shape", "box");
        set(n, "fixedsize", "true");
        set(n, "label", "");
        set(n, "width", std::to_string(input.nodes[i].size.width() / 72.0));
        set(n, "height", std::to_string(input.nodes[i].size.height() / 72.0));
        nodes.push_back(n);
    }
    std::vector<Agedge_t*> edges;
    edges.reserve(input.edges.size());
    for (size_t i = 0; i < input.edges.size(); ++i) {
        const auto& e = input.edges[i];
        char name[32];
        std::snprintf(name, sizeof name, "e%zu", i);
        Agedge_t* ed = agedge(g, nodes[static_cast<size_t>(e.from)], nodes[static_cast<size_t>(e.to)], name, 1);
        set(ed, "weight", std::to_string(std::max(1, static_cast<int>(e.weight))));
        edges.push_back(ed);
    }
    const std::string engine = input.engine.toStdString();
    if (gvLayout(gvc, g, engine.c_str()) != 0) {
        out.error = QStringLiteral("Graphviz: layout engine \"%1\" failed").arg(input.engine);
        agclose(g);
        gvFreeContext(gvc);
        return out;
    }
    const boxf bb = GD_bb(g);
    const double top = bb.UR.y;
    auto toQt = [&](pointf p) { return QPointF(p.x - bb.LL.x, top - p.y); };
    out.bounds = QRectF(0, 0, bb.UR.x - bb.LL.x, bb.UR.y - bb.LL.y);
    out.nodeCenters.reserve(nodes.size());
    for (Agnode_t* n : nodes)
        out.nodeCenters.push_back(toQt(ND_coord(n)));
    out.edgePaths.resize(edges.size());
    for (size_t i = 0; i < edges.size(); ++i) {
        auto& path = out.edgePaths[i];
        const splines* spl = ED_spl(edges[i]);
        if (spl && spl->size > 0 && spl->list[0].size > 0) {
            const bezier& bz = spl->list[0];
            for (int k = 0; k < bz.size; ++k)
                path.push_back(toQt(bz.list[k]));
            if (bz.eflag) path.push_back(toQt(bz.ep)); // the arrow tip
        } else {
            path.push_back(out.nodeCenters[static_cast<size_t>(input.edges[i].from)]);
            path.push_back(out.nodeCenters[static_cast<size_t>(input.edges[i].to)]);
        }
    }
    gvFreeLayout(gvc, g);
    agclose(g);
    gvFreeContext(gvc);
    out.seconds = static_cast<double>(timer.nsecsElapsed()) * 1e-9;
    return out;
}

} // namespace brillm::viz
