using System.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Cli.Commands;

/// <summary>
/// <c>qemutestkit run</c>: boots a machine from its spec JSON (as the build writes it) and keeps it running until
/// Ctrl+C, printing where its sockets are, so a person can look at a machine the tests use.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var spec = new Argument<FileInfo>("spec") { Description = "Machine spec JSON file" };
        var noWait = new Option<bool>("--no-wait-ready") { Description = "Do not wait for the spec's ready pattern" };
        var command = new Command("run", "Boot a machine from its spec JSON and keep it running until Ctrl+C") { spec, noWait };
        command.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(spec)!;
            if (!file.Exists)
            {
                throw new FileNotFoundException($"machine spec '{file.FullName}' does not exist");
            }

            var machineSpec = await MachineSpecJson.LoadAsync(file.FullName, ct).ConfigureAwait(false);
            await using var machine = await QemuMachine.StartAsync(machineSpec, cancellationToken: ct).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"machine {machineSpec.Name}: qemu pid {machine.ProcessId}, run directory {machine.RunDirectoryPath}").ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"  qmp: {machine.Files.QmpSocket}").ConfigureAwait(false);
            if (!parse.GetValue(noWait) && machineSpec.Ready.Pattern is not null)
            {
                await machine.WaitUntilReadyAsync(ct).ConfigureAwait(false);
                await Console.Out.WriteLineAsync($"machine {machineSpec.Name}: ready").ConfigureAwait(false);
            }

            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await Console.Out.WriteLineAsync($"machine {machineSpec.Name}: shutting down").ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
