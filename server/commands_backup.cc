// server/commands_backup.cc: DYNAMO BACKUP path, a consistent snapshot of this node's store
// (storage::Engine::StartBackup; the README, "Backup and restore").
//
// The copy runs on a storage thread; the command replies +OK when it is finished (as SAVE
// does, but without blocking the loop: other clients are served meanwhile). A second backup
// while one runs is refused. The path must be absolute and must not exist or be an empty
// directory, so a backup never mixes with another or overwrites one.
#include "server/commands.h"
#include "server/commands_backup.h"

namespace dynakv::server {

void CmdDynamoBackup(CommandCtx& ctx) {
  const std::string& path = ctx.args[2];
  if (path.empty() || path[0] != '/') {
    return ReplyErr(ctx, "ERR backup path must be an absolute path");
  }
  ReplyTo reply = ctx.reply;
  ctx.server->Backup(path, [reply](const Status& s) mutable {
    if (!s.ok()) {
      // Refusals (a bad path, one already running) as they are; copy failures say so.
      bool refusal = s.code() == Code::kInvalidArgument || s.code() == Code::kLimit ||
                     s.code() == Code::kNotSupported;
      return ReplyErr(reply, refusal ? ErrorText(s) : "ERR backup failed: " + s.message());
    }
    reply.Send([](protocol::RespWriter& w) { w.Ok(); });
  });
}

}  // namespace dynakv::server
