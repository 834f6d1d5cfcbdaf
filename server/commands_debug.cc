// server/commands_debug.cc: DEBUG, for tests only, off unless debug.enable_debug_command = true
// (Redis 7's enable-debug-command; refused with Redis's text otherwise). DEBUG SLEEP <seconds>
// blocks the loop thread like Redis's: the node answers nothing meanwhile (used to test the
// shutdown watchdog, server/watchdog.h).
#include <unistd.h>

#include <cstdlib>
#include <iterator>

#include "server/commands.h"

namespace dynakv::server {
namespace {

using protocol::RespWriter;

void CmdDebug(CommandCtx& ctx) {
  if (!ctx.server->config().enable_debug_command) {
    return ReplyErr(ctx,
                    "ERR DEBUG command not allowed. If the enable-debug-command option is set to "
                    "\"local\", you can run it from a local connection, otherwise you need to set "
                    "this option in the configuration file, and then restart the server.");
  }
  std::string sub = Lower(ctx.args[1]);
  if (sub == "sleep" && ctx.args.size() == 3) {
    // Redis parses with atof: garbage is 0 seconds.
    double secs = std::atof(ctx.args[2].c_str());
    if (secs > 0) {
      if (secs > 3600) secs = 3600;
      ctx.server->Log(cluster::Logger::Level::kWarn,
                      "DEBUG SLEEP: the loop is blocked for " + std::to_string(secs) + " s");
      useconds_t left = useconds_t(secs * 1e6);
      while (left > 0) {  // usleep may be cut short by a signal; keep blocking like Redis
        useconds_t step = left > 100000 ? 100000 : left;
        usleep(step);
        left -= step;
      }
    }
    return ctx.reply.Send([](RespWriter& w) { w.Ok(); });
  }
  if (sub == "help" && ctx.args.size() == 2) {
    return ctx.reply.Send([](RespWriter& w) {
      const char* lines[] = {"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                             "SLEEP <seconds>", "    Stop the server for <seconds>. Decimals allowed.",
                             "HELP", "    Print this help."};
      w.Array(std::size(lines));
      for (auto* l : lines) w.Simple(l);
    });
  }
  ReplyErr(ctx, "ERR unknown subcommand or wrong number of arguments for '" + ctx.args[1] +
                    "'. Try DEBUG HELP.");
}

}  // namespace

void RegisterDebug(std::vector<CommandSpec>* t) {
  t->push_back({"debug", -2, kCmdAdmin, CmdDebug, 0, 0, 0});
}

}  // namespace dynakv::server
