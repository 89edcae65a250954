using System.CommandLine;
using QemuTestKit.Cli;
using QemuTestKit.Cli.Commands;

var root = new RootCommand("qemutestkit: test software that runs inside QEMU guests")
{
    IntrospectCommand.Create(),
    RunCommand.Create(),
    BundleCommand.Create(),
    ReplayCommand.Create(),
    HuntCommand.Create(),
};

return await CliErrors.RunAsync(root, args).ConfigureAwait(false);
