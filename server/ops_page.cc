// server/ops_page.cc: the one-page cluster view served at "/" by the HTTP listener
// (server/http_listener.h), Riak Control style: the ring's partitions by owner, members and
// their states, hints, transfers with progress bars, anti-entropy, latency percentiles.
// Self-contained (inline CSS and JS, no external assets: the machines reach no CDN); it
// polls /cluster.json (server/ops_view.cc, RenderClusterJson) every 2 s.
#include "server/ops_view.h"

namespace dynakv::server {

const std::string& ClusterPageHtml() {
  static const std::string kPage = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dynakv cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#1f2d3d;color:#fff;padding:12px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0;font-weight:600}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#888}
.s-up,.h-ok{background:#2e9d57}.s-joining,.s-leaving{background:#d08a00}.s-suspect{background:#e06b00}
.s-down,.h-bad{background:#c62828}.s-removed{background:#777}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:12px 16px}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 10px;color:#1f2d3d}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;white-space:nowrap}
th{font-size:12px;color:#666;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
#ring{display:flex;height:34px;border-radius:4px;overflow:hidden;border:1px solid #ccc}
#ring div{height:100%}
.legend span{display:inline-flex;align-items:center;margin-right:14px;font-size:12px}
.legend i{width:12px;height:12px;border-radius:2px;margin-right:5px;display:inline-block}
.bar{background:#e8eaed;border-radius:3px;height:14px;width:180px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar b{display:block;height:100%;background:#3a78c9}
.kv{display:grid;grid-template-columns:auto auto;gap:2px 16px}.kv div:nth-child(odd){color:#666}
.muted{color:#888;font-size:12px}#err{color:#c62828}
</style></head><body>
<header><h1>dynakv</h1><span id="node">connecting&hellip;</span><span id="health" class="badge">?</span>
<span id="nrw"></span><span class="muted" id="updated"></span><span id="err"></span></header>
<main>
<section class="wide"><h2>Ring: 16384 partitions by first owner</h2><div id="ring"></div><p class="legend" id="legend"></p></section>
<section class="wide"><h2>Members</h2><table><thead><tr><th>Node</th><th>State</th><th>Address</th><th>Client</th><th>Zone</th>
<th>Partitions</th><th>Owns</th><th>Primary</th><th>Keys</th><th>Load</th><th>Hints held here</th><th>Transfers</th></tr></thead>
<tbody id="members"></tbody></table><p class="muted">Keys and load are known for this node only (not gossiped): others show ?.</p></section>
<section><h2>Transfers</h2><div id="transfers"></div></section>
<section><h2>Hints and anti-entropy</h2><div class="kv" id="ae"></div></section>
<section><h2>Quorum latency</h2><table><thead><tr><th>Operation</th><th>Count</th><th>p50</th><th>p99</th><th>p99.9</th></tr></thead>
<tbody id="latency"></tbody></table></section>
<section><h2>Siblings per read</h2><div id="siblings"></div></section>
</main>
<script>
"use strict";
const palette=["#3a78c9","#e0882a","#2e9d57","#b5439b","#c9a227","#24a3b5","#7a5cc9","#c84b4b","#5d8c3a","#8c6d3a"];
const colors={};
function color(id){if(!(id in colors))colors[id]=palette[Object.keys(colors).length%palette.length];return colors[id];}
function el(tag,attrs,text){const e=document.createElement(tag);for(const k in (attrs||{}))e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=String(text);return e;}
function row(cells){const tr=el("tr");for(const c of cells){const td=(c instanceof Node)?c:el("td",{},c);tr.appendChild(td);}return tr;}
function num(v){const td=el("td",{class:"n"},v===null?"?":v);return td;}
function bytes(b){if(b===null)return "?";const u=["B","KiB","MiB","GiB","TiB"];let i=0;while(b>=1024&&i<4){b/=1024;i++;}return (i?b.toFixed(1):b)+" "+u[i];}
function us(v){return v>=1000?(v/1000).toFixed(2)+" ms":v+" \u00b5s";}
function render(d){
  document.getElementById("node").textContent="node "+d.node+" \u00b7 v"+d.version+" \u00b7 "+d.state;
  const h=document.getElementById("health");h.textContent=d.health.code===200?"healthy":"unhealthy: "+d.health.reason;
  h.className="badge "+(d.health.code===200?"h-ok":"h-bad");
  document.getElementById("nrw").textContent="N="+d.n+" R="+d.r+" W="+d.w;
  document.getElementById("updated").textContent="updated "+new Date().toLocaleTimeString();
  document.getElementById("err").textContent="";
  for(const m of d.members)color(m.id);
  const ring=document.getElementById("ring");const sig=d.ring.map(r=>r[1]+r[2]).join();
  if(ring.dataset.sig!==sig){ring.dataset.sig=sig;ring.replaceChildren();}else d.ring=[];  // redraw on change only
  for(const [first,last,owner] of d.ring){const s=el("div",{title:"partitions "+first+"-"+last+": "+owner});
    s.style.flex=String(last-first+1);s.style.background=color(owner);ring.appendChild(s);}
  const legend=document.getElementById("legend");legend.replaceChildren();
  for(const m of d.members){const s=el("span");const i=el("i");i.style.background=color(m.id);s.appendChild(i);
    s.appendChild(document.createTextNode(m.id+" ("+m.primary_partitions+" primary)"));legend.appendChild(s);}
  const tb=document.getElementById("members");tb.replaceChildren();
  for(const m of d.members){const st=el("td");st.appendChild(el("span",{class:"badge s-"+m.state},m.state));
    const name=el("td",{class:"member-id","data-member":m.id},m.id+(m.self?" (this node)":""));
    const tr=row([name,st,m.address||"-",m.client_address||"-",m.zone||"-",num(m.partitions),
      num((100*m.partitions/d.partitions).toFixed(1)+"%"),num(m.primary_partitions),num(m.keys),num(bytes(m.bytes)),
      num(m.hints_pending),num(m.transfers)]);tr.id="member-"+m.id;tb.appendChild(tr);}
  const tx=document.getElementById("transfers");tx.replaceChildren();
  if(d.transfers.length===0)tx.appendChild(el("p",{class:"muted"},"No transfers active"));
  for(const t of d.transfers.slice(0,50)){const p=el("div");
    p.appendChild(document.createTextNode("partition "+t.partition+" "+t.from+" \u2192 "+t.to+" "));
    const bar=el("span",{class:"bar"});const b=el("b");b.style.width=(100*t.progress).toFixed(1)+"%";bar.appendChild(b);p.appendChild(bar);
    p.appendChild(document.createTextNode(" "+(100*t.progress).toFixed(0)+"% ("+t.records_sent+" sent, ~"+t.records_left+" left, "+
      Math.round(t.records_per_s)+"/s"+(t.active?"":", waiting")+")"));tx.appendChild(p);}
  const ae=document.getElementById("ae");ae.replaceChildren();
  const kv=[["hints pending",d.hints.pending],["hints stored",d.hints.stored],["hints delivered",d.hints.delivered],
    ["anti-entropy rounds",d.anti_entropy.rounds],["keys repaired by anti-entropy",d.anti_entropy.keys_repaired],
    ["read repairs",d.read_repairs],["coordinator timeouts (read / write / other)",d.coordinator_timeouts.read+" / "+
    d.coordinator_timeouts.write+" / "+d.coordinator_timeouts.other],["reads / writes coordinated",d.reads+" / "+d.writes]];
  for(const [k,v] of kv){ae.appendChild(el("div",{},k));ae.appendChild(el("div",{},v));}
  const lat=document.getElementById("latency");lat.replaceChildren();
  const ops=[["read quorum",d.latency.read_quorum],["write quorum",d.latency.write_quorum]];
  const cmds=Object.entries(d.latency.commands).sort((a,b)=>b[1].count-a[1].count).slice(0,8);
  for(const [k,v] of cmds)ops.push([k,v]);
  for(const [k,v] of ops)lat.appendChild(row([k,num(v.count),num(us(v.p50_us)),num(us(v.p99_us)),num(us(v.p999_us))]));
  const sib=document.getElementById("siblings");sib.replaceChildren();
  const total=Object.values(d.siblings).reduce((a,b)=>a+b,0);
  for(const [k,v] of Object.entries(d.siblings)){const p=el("div");p.appendChild(el("span",{style:"display:inline-block;width:40px"},k));
    const bar=el("span",{class:"bar"});const b=el("b");b.style.width=(total?100*v/total:0).toFixed(1)+"%";bar.appendChild(b);
    p.appendChild(bar);p.appendChild(document.createTextNode(" "+v));sib.appendChild(p);}
}
function refresh(){fetch("/cluster.json",{cache:"no-store"}).then(r=>r.json()).then(render)
  .catch(e=>{document.getElementById("err").textContent="cannot reach the node: "+e;});}
refresh();setInterval(refresh,2000);
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace dynakv::server
