#pragma once

#include <string>

#include "controlplane/api/tap.h"
#include "meshdeck/v1/telemetry.pb.h"

namespace meshdeck::cp {

// The one translation of a tap event between its wire form (meshdeck.v1.TapEvent, as proxies
// report it and Mesh.Tap streams it) and the API type (docs/tap.md): the control plane's
// ingest, its Mesh.Tap writer, the remote desktop's client and `meshdeckctl tap` share it.

// `proxy_id` replaces the event's own: on ingest it is the reporting proxy's, whatever the
// event says.
TapEvent tapEventFromProto(const meshdeck::v1::TapEvent& in, const std::string& proxy_id);
void tapEventToProto(const TapEvent& e, meshdeck::v1::TapEvent* out);

}  // namespace meshdeck::cp
