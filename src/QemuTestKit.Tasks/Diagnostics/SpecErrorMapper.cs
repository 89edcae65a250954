using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Machines.Validation;
using QemuTestKit.Tasks.Items;
using static QemuTestKit.Tasks.Items.ItemTypes;

namespace QemuTestKit.Tasks.Diagnostics;

/// <summary>
/// Turns the validator's problems, which name spec fields ("MemoryMiB", "Devices[1].Properties.speed"), into problems
/// that name the project item and metadata the user wrote ("QemuDevice 'e1000' of machine 'hello', metadata Properties").
/// </summary>
internal static partial class SpecErrorMapper
{
    /// <summary>The diagnostic for <paramref name="error"/>, or null when it is about metadata that could not be read
    /// (already reported as QTK2xxx; the spec held a stand-in value there).</summary>
    public static Diagnostic? Map(MachineSpecError error, MachineDeclaration machine)
    {
        ArgumentNullException.ThrowIfNull(error);
        var (item, metadata) = Locate(error.Field, machine);
        if (machine.Unreadable.Contains((item, metadata)))
        {
            return null;
        }

        // The validator words every problem "machine 'M': FIELD 'FOUND' PROBLEM"; the item and metadata replace the first part.
        var prefix = $"machine '{error.Machine}': {error.Field} ";
        var text = error.Message.StartsWith(prefix, StringComparison.Ordinal) ? error.Message[prefix.Length..] : error.Message;
        return new Diagnostic(error.Code, error.Severity, item, metadata, text);
    }

    /// <summary>The item and metadata a spec field came from.</summary>
    public static (ItemRef Item, string Metadata) Locate(string field, MachineDeclaration machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var list = ListField().Match(field);
        if (list.Success)
        {
            var index = int.Parse(list.Groups["index"].Value, CultureInfo.InvariantCulture);
            var member = list.Groups["member"].Value;
            switch (list.Groups["list"].Value)
            {
                case "Disks" when index < machine.Disks.Count:
                    return (machine.Disks[index], member switch
                    {
                        "Path" => Include,
                        "" => Include,
                        _ => member,
                    });
                case "Nics" when index < machine.Nics.Count:
                    return (machine.Nics[index], member switch
                    {
                        "Id" or "" => Include,
                        _ when member.StartsWith("HostForwards", StringComparison.Ordinal) => NicMetadata.HostForwards,
                        _ => member,
                    });
                case "Devices" when index < machine.Devices.Count:
                    return (machine.Devices[index], member switch
                    {
                        "Type" or "" => Include,
                        _ when member.StartsWith("Properties", StringComparison.Ordinal) => DeviceMetadata.Properties,
                        _ => member,
                    });
                case "ExtraArguments":
                    return (machine.Item, MachineMetadata.ExtraArguments);
            }
        }

        return (machine.Item, field switch
        {
            "Name" => Include,
            "MemoryMiB" => MachineMetadata.Memory,
            "Ready.Pattern" => MachineMetadata.ReadyPattern,
            "Ready.TimeoutSeconds" => MachineMetadata.ReadyTimeout,
            _ when field.StartsWith("MachineOptions", StringComparison.Ordinal) => MachineMetadata.MachineOptions,
            _ => field,
        });
    }

    [GeneratedRegex(@"^(?<list>Disks|Nics|Devices|ExtraArguments)\[(?<index>\d+)\]\.?(?<member>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex ListField();
}
