// server/commands_backup.h: DYNAMO BACKUP (server/commands_backup.cc).
#pragma once

#include "server/commands.h"

namespace dynakv::server {

// DYNAMO BACKUP path: replies +OK once a consistent copy of the store is in `path`.
void CmdDynamoBackup(CommandCtx& ctx);

}  // namespace dynakv::server
