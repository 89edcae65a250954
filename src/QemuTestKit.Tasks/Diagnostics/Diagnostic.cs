using QemuTestKit.Machines.Validation;
using QemuTestKit.Tasks.Items;

namespace QemuTestKit.Tasks.Diagnostics;

/// <summary>
/// One project item as the messages name it: its type, its Include, which occurrence of that Include it is (for
/// finding its line), the machine it belongs to (disks, NICs and devices) and the file that declares it.
/// </summary>
internal sealed record ItemRef(string ItemType, string Include, int Occurrence, string? Machine, string DefiningFile)
{
    /// <summary>"QemuMachine 'hello'" or "QemuDevice 'e1000' of machine 'hello'".</summary>
    public string Subject => ItemType == ItemTypes.Machine || Machine is null
        ? $"{ItemType} '{Include}'"
        : $"{ItemType} '{Include}' of machine '{Machine}'";
}

/// <summary>
/// One problem to report as an MSBuild error or warning: its code, the item and metadata it is about, and the sentence
/// that follows them ("'256 MiB' is not a memory size: ...").
/// </summary>
internal sealed record Diagnostic(string Code, MachineSpecSeverity Severity, ItemRef Item, string Metadata, string Text)
{
    public bool IsError => Severity == MachineSpecSeverity.Error;

    /// <summary>"QemuMachine 'hello', metadata Memory: '256 MiB' is not a memory size: ...".</summary>
    public string Message => $"{Item.Subject}, {(Metadata == ItemTypes.Include ? "Include" : $"metadata {Metadata}")}: {Text}";

    public static Diagnostic Of(string code, ItemRef item, string metadata, string text) =>
        new(code, TaskErrorCodes.Find(code).Severity, item, metadata, text);
}
