using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>What every replay changes in a bundle's recorded replay arguments, wherever QEMU runs.</summary>
public static class ReplayArguments
{
    /// <summary>
    /// From a checkpoint QEMU loads it through <c>rrsnapshot</c> (which also positions the replay log), not
    /// <c>-loadvm</c>; a gdb stub is served on <paramref name="gdbStub"/> (a <c>-gdb</c> value); <paramref name="paused"/> adds <c>-S</c>.
    /// </summary>
    public static List<string> Finish(IReadOnlyList<string> recorded, Checkpoint? checkpoint, string? gdbStub, bool paused)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        var arguments = new List<string>(recorded);
        if (checkpoint is not null)
        {
            var loadvm = arguments.IndexOf("-loadvm");
            if (loadvm >= 0)
            {
                arguments.RemoveRange(loadvm, 2);
            }

            var icount = arguments.IndexOf("-icount") + 1;
            if (icount == 0)
            {
                throw new ReplayException("the bundle's replay arguments have no -icount: the bundle is damaged");
            }

            arguments[icount] = QemuOptionValue.Join(arguments[icount], ("rrsnapshot", checkpoint.Name));
        }

        if (gdbStub is not null)
        {
            arguments.AddRange(["-gdb", gdbStub]);
        }

        if (paused)
        {
            arguments.Add("-S");
        }

        return arguments;
    }
}
